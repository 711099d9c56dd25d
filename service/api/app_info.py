"""The service's name and version, as the API reports them."""

NAME = "moda-hub"
VERSION = "0.1.0"
