"""pytest: the examples import the shared package shop from this directory
(as each service's main.py does), whatever directory pytest runs from."""
import pathlib
import sys

HERE = str(pathlib.Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
