"""Outbound benchmark: API calls per 1,000 changed customers, per target, counted at the wire.

    python -m bench.outbound [--customers 1000] [--targets salesforce hubspot mailchimp tryton] [--out bench/out]

For each target the hub pushes ``--customers`` golden customers three times: the first create, an update of every
customer, and a re-run with nothing changed (which must write nothing). Calls are counted where they cross the wire:
the stateful vendor fakes' own request logs (Salesforce, HubSpot, Mailchimp) and a counting transport mounted on the
JSON-RPC session for the real Tryton server; never the connectors' own counters. Reads and writes are counted apart;
the pull-back query (the target's edits coming back) is a read like any other.

The baseline runs in the same process against a fresh peer: the same engine and connector with the batch size forced
to 1, i.e. one call per record for each read and each write. The vendor's floor (the fewest calls its documented
batch limits allow for 1,000 records) is printed beside both.
"""
