# Which VTN to use when several answer on the LAN (device-independent).
#
# The rule, in order (README "Choosing among several VTNs"):
#   1. A VTN the main loop reported as unreachable comes after every other.
#   2. vtn.instance_names, when set, is an allow-list in order of preference
#      (instance names compared case-insensitively); others are never used.
#   3. vtn.program_names, when set: a VTN whose TXT program_names lists one of
#      them comes first, one that lists none comes next, one that lists only
#      other programs is never used.
#   4. vtn.version_prefix, when set ("3" by default): a VTN whose TXT version
#      matches comes first, one without a version next, any other is never used.
#   5. Lower SRV priority, then higher SRV weight (RFC 2782 order, without the
#      random pick, so every VEN on the site makes the same choice).
#   6. Instance name, case-insensitively; then the full service name.
# Steps 1-4 are the configuration's preferences (rank()[:PREFERENCE]); the
# discovery keeps a working VTN unless another is better by those alone.
#
#   prefs = choose.prefs(cfg["vtn"])
#   i = choose.best([{"instance": "A", "priority": 0, "weight": 0, "txt": info,
#                     "failed": False, "key": "a._openadr3._tcp.local"}], prefs)

from ven.txt import version_matches

PREFERENCE = 4  # rank()[:PREFERENCE] is what the configuration prefers


def prefs(vtn_cfg):
    """The parts of the "vtn" config the choice depends on."""
    return {
        "instance_names": [n.lower() for n in vtn_cfg.get("instance_names", ())],
        "program_names": list(vtn_cfg.get("program_names", ())),
        "version_prefix": vtn_cfg.get("version_prefix", ""),
    }


def rank(cand, prefs):
    """Sort key of a candidate (smaller is better), or None if it must not be used."""
    info = cand["txt"] or {}
    allow = prefs["instance_names"]
    place = 0
    if allow:
        name = cand["instance"].lower()
        if name not in allow:
            return None
        place = allow.index(name)
    programs = 0
    wanted = prefs["program_names"]
    listed = info.get("program_names") or []
    if wanted and listed:
        if not [n for n in listed if n in wanted]:
            return None
    elif wanted:
        programs = 1
    ok = version_matches(info.get("version"), prefs["version_prefix"])
    if ok is False:
        return None
    return (1 if cand.get("failed") else 0, place, programs, 0 if ok else 1,
            cand.get("priority", 0), -cand.get("weight", 0), cand["instance"].lower(), cand.get("key", ""))


def best(cands, prefs):
    """Index of the best usable candidate in cands, or None when none may be used."""
    found = None
    found_rank = None
    for i in range(len(cands)):
        r = rank(cands[i], prefs)
        if r is not None and (found_rank is None or r < found_rank):
            found = i
            found_rank = r
    return found


def why_not(cand, prefs):
    """Why rank() refuses a candidate, for the log ('' if it does not)."""
    info = cand["txt"] or {}
    if prefs["instance_names"] and cand["instance"].lower() not in prefs["instance_names"]:
        return "instance name not in vtn.instance_names"
    listed = info.get("program_names") or []
    if prefs["program_names"] and listed and not [n for n in listed if n in prefs["program_names"]]:
        return "offers none of vtn.program_names (it lists %s)" % ",".join(listed)
    if version_matches(info.get("version"), prefs["version_prefix"]) is False:
        return "version %s does not match vtn.version_prefix %s" % (info.get("version"), prefs["version_prefix"])
    return ""
