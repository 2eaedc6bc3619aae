"""Phone sources: Asterisk CDR files (``cdr``) and a Twilio-style Calls REST API (``twilio``)."""
