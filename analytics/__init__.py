"""Pure analytics: the metric catalogue, the peer-relative gap engine and synthetic orgs.

No Slack, no database: DataFrames and configuration in, pydantic models out. See README.md.
"""
