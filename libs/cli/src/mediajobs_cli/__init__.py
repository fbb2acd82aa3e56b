"""`mediajobs`: a command line client of the mediajobs gateway's HTTP API."""
