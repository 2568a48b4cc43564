"""Generated from proto/ by sdk/python/generate.py; do not edit."""
