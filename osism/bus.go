package osism

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The names of the bus on the broker; other programs (and nats CLI users)
// may rely on them.
const (
	TaskStream     = "OSISM_TASKS"   // the queued tasks, consumed per queue
	OutputStream   = "OSISM_OUTPUT"  // output lines, kept for a day
	TaskBucket     = "osism-tasks"   // task records and de-duplication keys
	LockBucket     = "osism-locks"   // locks and the global hold
	WorkerBucket   = "osism-workers" // worker announcements
	taskSubjectPre = "osism.tasks."
	outputPre      = "osism.output."
	cancelPre      = "osism.cancel."
	consumerPre    = "osism-"
	taskKeyPre     = "task."
	dedupKeyPre    = "dedup."
	lockKeyPre     = "lock."
	holdKey        = "hold"

	// dupWindow is how long the task stream recognises a task published
	// twice (by its Nats-Msg-Id).
	dupWindow = 2 * time.Minute

	// OutputRetention is how long output lines are kept.
	OutputRetention = 24 * time.Hour
	// workerBeat is how often a worker announces itself; an announcement
	// older than three beats means the worker is gone.
	workerBeat = 5 * time.Second

	hdrKind    = "Osism-Kind"
	hdrCreated = "Osism-Created"
	hdrTimeout = "Osism-Timeout"
	hdrReply   = "Osism-Reply"
	hdrDedup   = "Osism-Dedup"
	hdrExit    = "Osism-Exit"
)

// TaskSubject is the subject a task of queue q with id id is published on.
func TaskSubject(q Queue, id string) string { return taskSubjectPre + string(q) + "." + id }

// OutputSubject is the subject of the output lines of task id.
func OutputSubject(id string) string { return outputPre + id }

func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// bus holds the streams and buckets of the bus.
type bus struct {
	taskStr, outStr       jetstream.Stream
	tasks, locks, workers jetstream.KeyValue
}

// provision creates the streams and buckets of the bus, or updates their
// limits to cfg, and returns them: one request each.
func provision(ctx context.Context, js jetstream.JetStream, cfg TaskConfig) (*bus, error) {
	storage := jetstream.FileStorage
	if cfg.Storage == StorageMemory {
		storage = jetstream.MemoryStorage
	}
	retention := time.Duration(cfg.RetentionDays) * 24 * time.Hour
	// The task stream keeps acked tasks until the retention removes them
	// in bulk: under work-queue retention the file store removes each task
	// on its ack and, whenever the queue runs empty, replaces its block
	// file, which doubled the round trip of a task on an idle bus. The
	// workers of a queue share one durable consumer, whose ack floor says
	// what is done; a runner checks the record of every task stored before
	// its consumer was created, so a re-created consumer does not run
	// finished tasks again. A stream created by an earlier version with
	// work-queue retention keeps it: the server cannot change it.
	taskRetention := jetstream.LimitsPolicy
	if st, err := js.Stream(ctx, TaskStream); err == nil && st.CachedInfo().Config.Retention == jetstream.WorkQueuePolicy {
		taskRetention = jetstream.WorkQueuePolicy
	} else if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("provision stream %s: %w", TaskStream, err)
	}
	streams := []jetstream.StreamConfig{{
		Name:        TaskStream,
		Description: "osism: queued tasks",
		Subjects:    []string{taskSubjectPre + ">"},
		Retention:   taskRetention,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      retention,
		// Submit sets Nats-Msg-Id to the task id and publishes again when
		// it cannot tell whether the broker stored a task; the window is
		// how long such a second publish is recognised.
		Duplicates: dupWindow,
		// A full stream refuses new tasks instead of dropping queued ones,
		// and a task id is stored once: a task published again after the
		// duplicate window is refused, so it cannot run twice.
		MaxBytes:             cfg.MaxTaskBytes,
		Discard:              jetstream.DiscardNew,
		MaxMsgsPerSubject:    1,
		DiscardNewPerSubject: true,
	}, {
		Name:        OutputStream,
		Description: "osism: task output lines",
		Subjects:    []string{outputPre + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      OutputRetention,
		MaxBytes:    cfg.MaxOutputBytes,
		Discard:     jetstream.DiscardOld,
	}}
	sts := make([]jetstream.Stream, len(streams))
	for i, sc := range streams {
		st, err := js.CreateOrUpdateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
		sts[i] = st
	}
	buckets := []jetstream.KeyValueConfig{{
		Bucket:      TaskBucket,
		Description: "osism: task records",
		// A task writes three revisions (queued, running, final). Keeping
		// them all spares the file store a removal (a tombstone write) on
		// every state change; the retention removes them in bulk later.
		History:  5,
		TTL:      retention,
		MaxBytes: cfg.MaxTaskBytes,
		Storage:  storage,
		Replicas: cfg.Replicas,
	}, {
		Bucket:         LockBucket,
		Description:    "osism: locks and the global hold",
		Storage:        storage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: time.Second,
	}, {
		Bucket:      WorkerBucket,
		Description: "osism: live workers",
		TTL:         3 * workerBeat,
		Storage:     storage,
		Replicas:    cfg.Replicas,
	}}
	kvs := make([]jetstream.KeyValue, len(buckets))
	for i, kc := range buckets {
		kv, err := js.CreateOrUpdateKeyValue(ctx, kc)
		if err != nil {
			return nil, fmt.Errorf("provision bucket %s: %w", kc.Bucket, err)
		}
		kvs[i] = kv
	}
	return &bus{taskStr: sts[0], outStr: sts[1], tasks: kvs[0], locks: kvs[1], workers: kvs[2]}, nil
}

// isPerSubjectFull reports a task refused because the stream holds its id
// already.
func isPerSubjectFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages per subject exceeded")
}

// isWrongLastSeq reports a failed compare-and-set on a stream subject.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
