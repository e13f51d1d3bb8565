"""Checkers of identity and storage as the API shows them: stable names and DNS, no replacement while the old pod exists, the same claims per identity, and Events that explain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chaos_harness.judge.evidence import is_ordinal_pod, outages_over, outages_within, unresumed, watch_outages
from chaos_harness.judge.verdicts import Verdict, blind, checker, lacking
from chaos_harness.record.events import Event, of_kind


@checker("no-replacement-while-old-exists", reads=('pod',), pods="a pod of the StatefulSet observed",
         watch="the pod watch delivering throughout")
def replacement_while_old_exists(events: Sequence[Event], statefulset: str) -> Verdict:
    """No new pod (new UID) for an identity is observed while the old pod object has not been observed
    deleted. Watch order is the API server's order, so this is what the controller was shown."""
    name = "no-replacement-while-old-exists"
    live: dict[str, str] = {}
    seen_pods = 0
    violations = []
    for ev in of_kind(events, "pod"):
        if not is_ordinal_pod(ev["name"], statefulset):
            continue
        seen_pods += 1
        if ev["type"] == "DELETED":
            if live.get(ev["name"]) == ev["uid"]:
                del live[ev["name"]]
            continue
        old = live.get(ev["name"])
        if old is not None and old != ev["uid"]:
            violations.append({"pod": ev["name"], "old_uid": old, "new_uid": ev["uid"], "at": ev["wall"],
                               "node": ev["node"]})
        live[ev["name"]] = ev["uid"]
    if violations:
        return Verdict(name, "fail", f"{len(violations)} replacement(s) appeared before the old pod object was gone",
                       tuple(violations))
    outages = outages_within(events, "pod", 0.0, float("inf"), lambda n: is_ordinal_pod(n, statefulset))
    if missing := lacking(name, pods=seen_pods):
        return missing
    if v := blind(name, outages, "the order of deletions and creations"):
        return v
    return Verdict(name, "pass", f"every {statefulset} replacement appeared only after its predecessor was deleted")


@checker("stable-identity", reads=('pod',), pods="a pod of the StatefulSet observed")
def stable_identity(events: Sequence[Event], statefulset: str, service: str) -> Verdict:
    """Every incarnation of `<sts>-<n>` has hostname `<sts>-<n>` under the headless Service's subdomain
    (so `<pod>.<service>` names it); the IP may change."""
    name = "stable-identity"
    seen = 0
    problems = []
    ips: dict[str, set[str]] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] == "DELETED" or not is_ordinal_pod(ev["name"], statefulset):
            continue
        seen += 1
        if ev.get("hostname") != ev["name"] or ev.get("subdomain") != service:
            problems.append({"pod": ev["name"], "hostname": ev.get("hostname"), "subdomain": ev.get("subdomain")})
        if ev.get("ip"):
            ips.setdefault(ev["name"], set()).add(ev["ip"])
    if missing := lacking(name, pods=seen):
        return missing
    if problems:
        return Verdict(name, "fail", "an incarnation had another hostname or subdomain", tuple(problems[:5]))
    if v := blind(name, outages_within(events, "pod", 0.0, float("inf"), lambda n: is_ordinal_pod(n, statefulset)),
                  f"an incarnation of a {statefulset} pod"):
        return v
    return Verdict(name, "pass", f"hostname = pod name under {service} for every incarnation",
                   figures={"ip_changes": float(sum(len(v) - 1 for v in ips.values()))})


@checker("same-pvc-per-identity", reads=("pod", "pvc"), pods="a pod of the StatefulSet observed",
         claims="a pod mounting a claim", bound="every mounted claim observed bound to a volume (the pvc watch)")
def same_pvc_per_identity(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every incarnation of an identity mounts the same claims, and those claims keep their UID and volume (each
    of them seen bound by the pvc watch: a claim never seen cannot be said to have kept anything)."""
    name = "same-pvc-per-identity"
    claims: dict[str, set[tuple[str, ...]]] = {}
    pvcs: dict[str, set[tuple[str, str]]] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and is_ordinal_pod(ev["name"], statefulset):
            claims.setdefault(ev["name"], set()).add(tuple(sorted(ev["pvcs"])))
    for ev in of_kind(events, "pvc"):
        if ev["volume"]:
            pvcs.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"]))
    mounted = {c for sets in claims.values() for names in sets for c in names}
    unbound = sorted(mounted - set(pvcs))
    if missing := lacking(name, pods=claims, claims=mounted, bound=not unbound):
        return Verdict(name, "unknown", missing.summary + (f": {', '.join(unbound)} never seen bound" if unbound and
                                                           mounted else ""), missing.evidence)
    problems = [{"pod": p, "claims": sorted(c)} for p, c in claims.items() if len(c) > 1]
    problems += [{"pvc": n, "bindings": sorted(b)} for n, b in pvcs.items() if len(b) > 1]
    if problems:
        return Verdict(name, "fail", "an identity changed claims or a claim changed volume", tuple(problems))
    hidden = outages_within(events, "pod", 0.0, float("inf"), lambda n: is_ordinal_pod(n, statefulset))
    hidden += outages_within(events, "pvc", 0.0, float("inf"), mounted.__contains__, ("uid", "volume"))
    if v := blind(name, hidden, f"the claims of every {statefulset} incarnation"):
        return v
    return Verdict(name, "pass", f"{len(claims)} identities kept their claims and volumes")


@checker("claims-kept", reads=('pvc',), named="the claims to follow named", observed="a named claim observed")
def claims_kept(events: Sequence[Event], claims: Iterable[str]) -> Verdict:
    """Each named PVC was observed, never deleted, and kept one UID and one volume throughout."""
    name = "claims-kept"
    claims = list(claims)
    seen: dict[str, set[tuple[str, str]]] = {}
    deleted = []
    for ev in of_kind(events, "pvc"):
        if ev["name"] not in claims:
            continue
        seen.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"] or ""))
        if ev["type"] == "DELETED" or ev["deleting"]:
            deleted.append({"pvc": ev["name"], "at": ev["wall"]})
    if missing := lacking(name, named=claims, observed=seen):
        return missing
    absent = [c for c in claims if c not in seen]
    changed = [{"pvc": c, "bindings": sorted(b)} for c, b in seen.items() if len({u for u, _ in b}) > 1
               or len({v for _, v in b if v}) > 1]
    if not deleted and not changed and (v := blind(name, outages_within(events, "pvc", 0.0, float("inf"),
                                                                        claims.__contains__, ("uid", "volume")),
                                                   "the named claims")):
        return v
    if absent and not deleted and not changed and (v := blind(name, outages_over(events, ("pvc",), 0.0, float("inf")),
                                                              f"{', '.join(absent)}")):
        return v
    if absent or deleted or changed:
        return Verdict(name, "fail", f"missing {absent}, deleted {len(deleted)}, changed {len(changed)}",
                       tuple(deleted + changed))
    return Verdict(name, "pass", f"{', '.join(claims)} never deleted, same UID and volume throughout",
                   tuple({"pvc": c, "uid": sorted(b)[0][0], "volume": sorted(b)[-1][1]} for c, b in sorted(seen.items())))


@checker("events-explain", reads=('event',), events="a Kubernetes Event about the object")
def events_mention(events: Sequence[Event], obj: str, *needles: str) -> Verdict:
    """Some Kubernetes Event about `obj` says why (e.g. FailedScheduling: volume node affinity conflict)."""
    name = "events-explain"
    about = [e for e in of_kind(events, "event") if e["object"] == obj]
    if missing := lacking(name, events=about):
        return Verdict(name, "unknown", f"{missing.summary}: no event on {obj} recorded", missing.evidence)
    found = [e for e in about if any(n.lower() in (e.get("message") or "").lower() for n in needles)]
    if not found and (v := blind(name, unresumed(events, "event"), f"the events on {obj}")):
        return v
    if not found:
        return Verdict(name, "fail", f"none of the {len(about)} event(s) on {obj} mentions {list(needles)}")
    return Verdict(name, "pass", f"{found[0]['reason']}: {found[0]['message']}",
                   tuple({"reason": e["reason"], "message": e["message"]} for e in found[:3]))


@checker("dns-names-pod", reads=('pod', 'dns'), lookups="a DNS lookup recorded")
def dns_names_pod(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every recorded in-cluster DNS lookup of `<pod>.<service>...` returned the IP that the pod of that name
    had at the time (the latest incarnation's IP per the pod watch)."""
    name = "dns-names-pod"
    ip_now: dict[str, str] = {}
    lookups = 0
    problems = []
    doubts = []
    # A lookup made while the pod watch was out (or before the re-list that resumed it) is compared with an IP
    # the watch may not have caught up with: such a mismatch is blindness, not a finding.
    outages = watch_outages(events, "pod")
    for ev in events:
        if ev["kind"] == "pod" and is_ordinal_pod(ev["name"], statefulset) and ev["type"] != "DELETED" and ev.get("ip"):
            ip_now[ev["name"]] = ev["ip"]
        elif ev["kind"] == "dns":
            lookups += 1
            pod = ev["name"].split(".", 1)[0]
            if ev["ips"] != [ip_now.get(pod)]:
                found = {"name": ev["name"], "resolved": ev["ips"], "pod_ip": ip_now.get(pod), "at": ev["wall"]}
                unsure = [(a, b) for a, b in outages if a <= ev["mono"] <= b]
                (doubts if unsure else problems).append(found)
                if unsure:
                    found.update(stream="the pod watch", seconds=round(min(unsure[0][1], ev["mono"]) - unsure[0][0], 2),
                                 allowed=0.0)
    if missing := lacking(name, lookups=lookups):
        return missing
    if not problems and (v := blind(name, doubts, "the pod's IP when its name was looked up")):
        return v
    if problems:
        return Verdict(name, "fail", f"{len(problems)} of {lookups} lookups did not name the pod", tuple(problems))
    return Verdict(name, "pass", f"{lookups} lookups each resolved to the named pod's current IP",
                   figures={"lookups": float(lookups)})
