"""A realistic fleet of agents to drive through the gateway.

The fleet is made of real conversations (tau-bench's GPT-4o airline agent):
each conversation is one agent session, and each assistant turn in it is one
model call whose prompt is everything said before that turn. Replaying them
reproduces what makes agent bills large: contexts that grow call after call
and share a long prefix (policy, tools, history) that provider caches can
reuse. The pieces:

- `trajectories`: find the data and load conversations;
- `tools`: the airline tools' JSON schemas (the data set does not ship them);
- `wire`: turn a conversation prefix into an OpenAI or Anthropic request;
- `plan`: which agent, model and task each session is, and the scenarios;
- `driver`: replay sessions over HTTP with bounded concurrency;
- `ledger`, `table`: read the gateway's ledger back and total it;
- `procs`: run the emulator and gateway as child processes.
"""
