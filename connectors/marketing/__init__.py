"""Marketing destinations: HubSpot contacts (``hubspot``) and Mailchimp audience members (``mailchimp``)."""
