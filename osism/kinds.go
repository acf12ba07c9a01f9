package osism

// NoopArgs is the built-in task that does nothing but write Lines lines of
// output; it checks that a queue's workers are alive and measures the bus.
type NoopArgs struct {
	// Q is the queue; default conductor.
	Q Queue `json:"queue,omitempty"`
	// Lines is how many output lines to write.
	Lines int `json:"lines,omitempty"`
}

// Kind is "osism.noop".
func (NoopArgs) Kind() string { return "osism.noop" }

// Queue is Q, or conductor.
func (a NoopArgs) Queue() Queue {
	if a.Q == "" {
		return QueueConductor
	}
	return a.Q
}
