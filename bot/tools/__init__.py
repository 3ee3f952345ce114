"""The tools the model may use while it answers (Bedrock tool use), and the rounds of asking and answering them.

`base` says what a tool is; `knowledge` makes a search tool of each Bedrock Knowledge Base; `rounds` drives the
model through its tool calls and numbers the sources they found.
"""
