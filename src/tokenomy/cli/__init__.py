"""The ``tokenomy`` command line: thin commands over the library."""
