# The part of egressguard's pod policy the benchmark compares against OPA, in Rego.
#
# Served by `opa run --server` and queried as POST /v0/data/egressguard/review with the
# AdmissionReview as the body: the answer is the AdmissionReview response itself, as an
# OPA-backed admission webhook answers. It judges Pod CREATEs the way egressguard does for
# the checks it implements: hostNetwork (and Windows hostProcess), NET_ADMIN / NET_RAW /
# ALL capabilities, privileged containers, entitlement labels the pod may not carry, and the
# egress request annotation against the grants, adding the entitlement labels by JSONPatch.
# Grants and destinations come from data.json, generated from the same rules repository
# (bench/opa_data.py); every other kind is admitted.
package egressguard

import rego.v1

prefix := data.config.entitlement_prefix

request := input.request

pod := request.object

is_pod if {
	request.kind.group == ""
	request.kind.kind == "Pod"
}

namespace := request.namespace if request.namespace != ""

else := object.get(pod, ["metadata", "namespace"], "")

service_account := sa if {
	sa := pod.spec.serviceAccountName
	is_string(sa)
	sa != ""
} else := sa if {
	sa := pod.spec.serviceAccount
	is_string(sa)
	sa != ""
} else := "default"

labels := object.get(pod, ["metadata", "labels"], {})

annotations := object.get(pod, ["metadata", "annotations"], {})

judged if {
	is_pod
	request.operation == "CREATE"
	not data.config.exempt_namespaces[namespace]
}

today_ns := time.now_ns()

# --- entitlement: active grants of the identity, plus open destinations requested ---

granted contains name if {
	some grant in object.get(data.grants, [namespace, service_account], [])
	active(grant)
	name := grant.destination
	data.destinations[name]
}

active(grant) if not grant.expires

active(grant) if time.parse_rfc3339_ns(sprintf("%sT23:59:59.999999999Z", [grant.expires])) >= today_ns

entries contains entry if {
	some raw in split(object.get(annotations, data.config.request_annotation, ""), ",")
	entry := regex.replace(raw, `\s+`, "")
	entry != ""
}

host_of(entry) := lower(trim_suffix(concat(":", array.slice(parts, 0, count(parts) - 1)), ".")) if {
	parts := split(entry, ":")
}

port_of(entry) := parts[count(parts) - 1] if parts := split(entry, ":")

valid(entry) if {
	count(split(entry, ":")) > 1
	host := host_of(entry)
	regex.match(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$`, host)
	count(host) <= 253
	regex.match(`^[0-9]{1,5}$`, port_of(entry))
	to_number(port_of(entry)) >= 1
	to_number(port_of(entry)) <= 65535
}

# The most specific destination covering a host: the exact name, else the longest wildcard.
destination_of(host) := data.hosts.exact[host]

destination_of(host) := name if {
	not data.hosts.exact[host]
	labels_of := split(host, ".")
	suffixes := [s |
		some i in numbers.range(1, count(labels_of) - 1)
		s := concat(".", array.slice(labels_of, i, count(labels_of)))
		data.hosts.wildcards[s]
	]
	count(suffixes) > 0
	name := data.hosts.wildcards[suffixes[0]]
}

open_requested contains name if {
	some entry in entries
	valid(entry)
	name := destination_of(host_of(entry))
	data.destinations[name].access == "open"
	to_number(port_of(entry)) in data.destinations[name].ports
}

entitled := granted | open_requested

# --- violations ---

violations contains sprintf("unknown-destination: %s is not host:port", [entry]) if {
	some entry in entries
	not valid(entry)
}

violations contains sprintf("unknown-destination: no Destination covers %s", [entry]) if {
	some entry in entries
	valid(entry)
	not destination_of(host_of(entry))
}

violations contains sprintf("unknown-destination: %s does not list port %s", [name, port_of(entry)]) if {
	some entry in entries
	valid(entry)
	name := destination_of(host_of(entry))
	not to_number(port_of(entry)) in data.destinations[name].ports
}

violations contains sprintf("grant-missing: %s/%s has no active grant for %s", [namespace, service_account, entry]) if {
	some entry in entries
	valid(entry)
	name := destination_of(host_of(entry))
	to_number(port_of(entry)) in data.destinations[name].ports
	data.destinations[name].access != "open"
	not entitled[name]
}

violations contains sprintf("managed-label: label %s is set only by egressguard", [key]) if {
	some key, _ in labels
	startswith(key, prefix)
	not entitled[substring(key, count(prefix), -1)]
}

violations contains "host-network: hostNetwork: true" if is_true(pod.spec.hostNetwork)

containers contains c if some c in object.get(pod, ["spec", "containers"], [])

containers contains c if some c in object.get(pod, ["spec", "initContainers"], [])

containers contains c if some c in object.get(pod, ["spec", "ephemeralContainers"], [])

contexts contains ctx if {
	some c in containers
	ctx := object.get(c, "securityContext", {})
}

contexts contains object.get(pod, ["spec", "securityContext"], {})

violations contains "host-network: windowsOptions.hostProcess: true" if {
	some ctx in contexts
	is_true(object.get(ctx, ["windowsOptions", "hostProcess"], false))
}

net_capabilities := {"NET_ADMIN", "NET_RAW", "ALL"}

violations contains sprintf("net-capability: container %s adds %s", [c.name, cap]) if {
	some c in containers
	some raw in object.get(c, ["securityContext", "capabilities", "add"], [])
	cap := trim_prefix(upper(trim_space(raw)), "CAP_")
	net_capabilities[cap]
}

violations contains sprintf("privileged: container %s is privileged", [c.name]) if {
	some c in containers
	is_true(object.get(c, ["securityContext", "privileged"], false))
}

is_true(value) if value == true

is_true(value) if {
	is_string(value)
	lower(trim_space(value)) == "true"
}

# --- the answer ---

default allowed := false

allowed if {
	judged
	count(violations) == 0
}

allowed if not judged

missing_labels := sort([key |
	some name in entitled
	key := concat("", [prefix, name])
	object.get(labels, key, "") != "true"
])

escaped(key) := replace(replace(key, "~", "~0"), "/", "~1")

label_ops := [op |
	some key in missing_labels
	op := {"op": "add", "path": concat("", ["/metadata/labels/", escaped(key)]), "value": "true"}
]

patch := array.concat([{"op": "add", "path": "/metadata/labels", "value": {}}], label_ops) if {
	not pod.metadata.labels
	count(label_ops) > 0
} else := label_ops

base := {"uid": request.uid, "allowed": allowed}

response := object.union(base, {
	"patchType": "JSONPatch",
	"patch": base64.encode(json.marshal(patch)),
}) if {
	judged
	allowed
	count(patch) > 0
} else := object.union(base, {"status": {"code": 403, "message": concat("; ", sort(violations))}}) if {
	not allowed
} else := base

review := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}
