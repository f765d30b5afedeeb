package v1alpha1

// IgnoreAnnotation opts a workload or a namespace out of every policy: an
// Event whose involved object, one of its controlling owners (Pod →
// ReplicaSet → Deployment, Job → CronJob, StatefulSet, DaemonSet) or its
// namespace carries it with the value "true" is no occurrence of any policy
// (docs/policies.md, exclusions).
const IgnoreAnnotation = "remediation.dot-ai.io/ignore"
