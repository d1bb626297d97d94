"""The four phases of an LDEA cycle, each a plain function over a campaign's `Context`:
design (Learn + Design), promotion and experiment (the staged cascade), analysis; plus outputs.
`evolve/campaign.py` sets the context up and calls them in order."""
