"""Model backends other than a local Hugging Face model: OpenAI-compatible servers."""
