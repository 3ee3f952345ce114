"""A Slack bot that answers with a model on Amazon Bedrock and types its answer live into Slack."""
