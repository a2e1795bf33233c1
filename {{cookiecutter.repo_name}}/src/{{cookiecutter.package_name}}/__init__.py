"""{{ cookiecutter.model_name }}: a {{ cookiecutter.task }} model for TorchServe."""
