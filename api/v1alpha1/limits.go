package v1alpha1

// Bounds on what a run's status records, so that no selection can make a
// status larger than the API server's store accepts (etcd takes about
// 1.5 MiB per object; a target record is about 350 bytes). Each is also the
// maxItems of its field in the CRD, and a test pins the two together.
const (
	// MaxRunTargets is the most targets one run records, and so injects: a
	// selection of more ends the run with reason TooManyTargets before
	// anything is touched, since a fault the status cannot record could
	// not be reverted from it.
	MaxRunTargets = 2000
	// MaxRecordedEvictedPods is the most evicted pods a drained node's
	// record lists; the rest are counted in evictedPodsOmitted.
	MaxRecordedEvictedPods = 1000
	// MaxRecordedNodePods is the most spared or blocked pods a drained
	// node's record lists each; the rest are counted.
	MaxRecordedNodePods = 500
)
