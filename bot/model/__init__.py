"""The model: Bedrock `converse_stream` as plain events, and Bedrock's errors as kinds."""
