"""The Slack edge: every Web API call under one retry policy, paced by one budget per method, with Slack's
errors mapped to kinds."""
