"""The two OpenAI tiers most routing tests route between, as a config fragment."""

TWO_TIERS = """
[models.small]
provider = "openai"
model = "gpt-4o-mini"

[models.big]
provider = "openai"
model = "gpt-4o"
"""
