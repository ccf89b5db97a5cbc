"""thermostat as AWS CDK v2 constructs (Python), from the optional ``cdk`` extra.

* :class:`ThermostatControlPlane`: the resources of ``serverless/template.yaml`` (table, runtime
  layer, the four functions and their rules, dead-letter queue, alarms, dashboard);
* :class:`Warmable`: keep one of your functions warm (the layer, the ``thermostat:warm`` tag, its
  target record);
* :class:`PreTrafficWarmup`: a CodeDeploy deployment group for an alias, with thermostat's
  pre-traffic warm-up as its BeforeAllowTraffic hook.

Synthesis needs the CDK's own runtime (jsii, on Node.js); nothing here is ever in a Lambda bundle.
"""

from thermostat_cdk.control_plane import ThermostatControlPlane, layer_code
from thermostat_cdk.function import WARM_TAG, PreTrafficWarmup, Warmable

__all__ = ["WARM_TAG", "PreTrafficWarmup", "ThermostatControlPlane", "Warmable", "layer_code"]
