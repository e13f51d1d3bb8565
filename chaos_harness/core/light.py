"""API objects read without the client's models, for what scales with the cluster (node lists and the node
watch). The client turns each object into nested model instances: a 1,000-node list took 2.9 s and tens of
megabytes to decode, against 0.7 s as plain JSON. `Light` reads the JSON with the models' attribute names
(`node.status.node_info.container_runtime_version`), so code written against the models reads either; dates stay
the API's strings, so it is for fields that are strings, numbers and booleans."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

# Where the API's JSON name is not the camelCase of the model's attribute name (providerID, podCIDR, ...).
_ACRONYMS = (("Id", "ID"), ("Cidrs", "CIDRs"), ("Cidr", "CIDR"), ("Uuid", "UUID"), ("Ip", "IP"), ("Ips", "IPs"))


def _json_name(attribute: str) -> str:
    head, *rest = attribute.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Light:
    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, attribute: str) -> Any:
        name = _json_name(attribute)
        if name not in self._data:
            for model, api in _ACRONYMS:
                if name.endswith(model) and (alt := name[: -len(model)] + api) in self._data:
                    name = alt
                    break
            else:
                if (alt := name[:1].upper() + name[1:]) in self._data:  # DaemonEndpoint's "Port"
                    name = alt
        return _wrap(self._data.get(name))

    def to_dict(self) -> dict[str, Any]:
        return self._data


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Light(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def light_list(list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`list_fn(*args, **kwargs)` (a client list method) as a Light list: `.items`, `.metadata.resource_version`."""
    response = list_fn(*args, _preload_content=False, **kwargs)
    data = getattr(response, "data", None)
    if isinstance(data, (bytes, str)):
        return Light(json.loads(data))
    # A list method that returns models whatever it is asked (a test's stand-in): their JSON, as the API sends it.
    from kubernetes.client import ApiClient

    return Light(ApiClient().sanitize_for_serialization(response))


def models(items: Iterable[Light], klass: str) -> list[Any]:
    """The client's models (`klass`, e.g. "V1Node") of `items`: for code written against the models that needs a
    few objects out of a list that grows with the cluster."""
    from kubernetes.client import ApiClient

    api = ApiClient()
    return [api.deserialize(json.dumps(item.to_dict()), klass, "application/json") for item in items]


def nodes_named(core: Any, names: Iterable[str], **kwargs: Any) -> list[Any]:
    """The Node models of `names` (those that exist), from one list of every node read as plain JSON: on a cluster
    of 1,000 nodes the harness needs its few target nodes' models, not a thousand (2.9 s to decode them all)."""
    wanted = set(names)
    return models([n for n in light_list(core.list_node, **kwargs).items if n.metadata.name in wanted], "V1Node")
