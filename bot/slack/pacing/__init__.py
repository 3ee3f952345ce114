"""Pacing: every Slack call takes its turn in Slack's budgets, for the whole process.

Slack rate-limits per method, per app and workspace (Tier 2 about 20 calls a minute, Tier 3 about 50,
Tier 4 about 100), and some methods per channel as well (chat.postMessage: about one a second in each
channel, plus a workspace-wide ceiling it does not publish). It publishes no burst sizes, so each budget
starts from what `methods` assumes and learns from Slack's answers (`learning`).

The parts, each small and pure (the caller passes the time) but the last:
- `bucket.TokenBucket`: tokens, rate, burst, and a Retry-After's pause;
- `learning.Learning`: what Slack's answers teach of a budget's numbers (probing up, halving on a 429);
- `queue.Queue` and `queue.Priority`: the calls waiting, in order of priority and arrival;
- `flight.InFlight`: the calls Slack has not answered yet;
- `budget.Budget`: one budget made of those: who goes next, and when;
- `turn.Turn`: one call's place in its budgets, from asking until Slack's answer;
- `pacer.Pacer`: every method's budgets, with a lock and a clock for the bot's threads, and what they share
  with other instances (`bot.shared`).
"""

from bot.slack.pacing.budget import Budget
from bot.slack.pacing.pacer import Pacer
from bot.slack.pacing.queue import Priority
from bot.slack.pacing.turn import Turn

__all__ = ["Budget", "Pacer", "Priority", "Turn"]
