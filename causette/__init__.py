"""The composition root: the app and the command line, built from the core (``chat``) and
the console (``agents``). Nothing in either package imports from here."""
