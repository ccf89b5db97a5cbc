"""Keep-warm: plan a round's pings, count the environments that answered, report.

* :mod:`~domain.keep_warm.round`: the round (resolve, plan, batch, top up) and its policy;
* :mod:`~domain.keep_warm.reports`: the reports and the counting that fills them;
* :mod:`~domain.keep_warm.ports`: what the round needs from outside, the :class:`Dispatcher`
  (the fan-out) among them.
"""

from domain.keep_warm.ports import Dispatcher, Flight, FunctionFacts, LambdaConfig, PayloadLoader, PingBatch
from domain.keep_warm.reports import RoundReport, Skip, TargetReport
from domain.keep_warm.round import RoundPolicy, keep_warm, run_round

__all__ = [
    "Dispatcher",
    "Flight",
    "FunctionFacts",
    "LambdaConfig",
    "PayloadLoader",
    "PingBatch",
    "RoundPolicy",
    "RoundReport",
    "Skip",
    "TargetReport",
    "keep_warm",
    "run_round",
]
