"""Scancer's tooling: data, training, export, serving, publishing and checks.

This package comes from the template and is updated with `make update`; the
model itself lives in the modules beside this package.
"""
