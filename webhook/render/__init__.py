"""Rendering the rules repository into data-plane configuration."""
