package osism

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// ErrBusMissing: a stream or bucket of the bus does not exist on the
// broker, and this client did not create it (only an admin credential
// may; a broker creates the bus when it starts).
var ErrBusMissing = errors.New("bus not provisioned")

// EnsureBus creates the streams and buckets of the bus on the broker of
// nc, or brings those that exist to cfg: their limits, storage caps, and
// buckets that refuse roll-ups (a bucket created by an earlier version
// allowed them). It needs a credential that may create and change
// streams (role admin); a broker calls it when it starts. Clients bind to
// the bus as it is ([NewClient]).
func EnsureBus(ctx context.Context, nc *nats.Conn, cfg TaskConfig) error {
	if err := (Config{Tasks: cfg}).Validate(); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	_, err = provision(ctx, js, cfg.withDefaults())
	return err
}

// streamConfigs are the streams of the bus as cfg wants them: the task and
// output streams, then the streams of the task, lock and worker buckets.
// taskRetention is the task stream's retention (see provision).
func streamConfigs(cfg TaskConfig, taskRetention jetstream.RetentionPolicy) []jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if cfg.Storage == StorageMemory {
		storage = jetstream.MemoryStorage
	}
	retention := time.Duration(cfg.RetentionDays) * 24 * time.Hour
	return []jetstream.StreamConfig{{
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
	},
		// A task writes three revisions (queued, running, final). Keeping
		// them all spares the file store a removal (a tombstone write) on
		// every state change; the retention removes them in bulk later.
		// A full bucket drops its oldest revisions: refusing a final
		// record would leave the task to run again on every redelivery.
		bucketConfig(TaskBucket, "osism: task records", 5, retention, cfg.MaxTaskBytes, jetstream.DiscardOld, storage, cfg.Replicas, false),
		// Locks expire by their per-key TTL (a held lock is renewed).
		bucketConfig(LockBucket, "osism: locks and the global hold", 1, 0, -1, jetstream.DiscardNew, storage, cfg.Replicas, true),
		bucketConfig(WorkerBucket, "osism: live workers", 1, 3*workerBeat, -1, jetstream.DiscardNew, storage, cfg.Replicas, false),
	}
}

// bucketConfig is the stream of a key-value bucket, as nats.go's
// CreateKeyValue makes it, except that it refuses roll-ups: with them,
// anyone who may write one key of a bucket could wipe the whole bucket
// (every task record, the lock of every holder) with one Nats-Rollup
// header. Delete markers need no roll-up; a purge (which does) is not
// used by the bus. Without roll-ups the server sets no subject delete
// markers either, so an expired lock simply vanishes.
func bucketConfig(bucket, desc string, history int64, ttl time.Duration, maxBytes int64, discard jetstream.DiscardPolicy,
	storage jetstream.StorageType, replicas int, msgTTL bool) jetstream.StreamConfig {
	dup := 2 * time.Minute
	if ttl > 0 && ttl < dup {
		dup = ttl
	}
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Description:       desc,
		Subjects:          []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          maxBytes,
		MaxAge:            ttl,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           storage,
		Replicas:          replicas,
		AllowRollup:       false,
		DenyDelete:        true,
		Duplicates:        dup,
		AllowDirect:       true,
		Discard:           discard,
		AllowMsgTTL:       msgTTL,
	}
}

// busNames are the streams of the bus, in the order of streamConfigs.
var busNames = []string{TaskStream, OutputStream, "KV_" + TaskBucket, "KV_" + LockBucket, "KV_" + WorkerBucket}

// provision creates the streams and buckets of the bus, or updates them to
// cfg, and returns them: one request each.
func provision(ctx context.Context, js jetstream.JetStream, cfg TaskConfig) (*bus, error) {
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
	for _, sc := range streamConfigs(cfg, taskRetention) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	return bind(ctx, js)
}

// bind opens the streams and buckets of the bus as they are; a missing one
// is an error naming it, for which errors.Is(err, ErrBusMissing) holds.
func bind(ctx context.Context, js jetstream.JetStream) (*bus, error) {
	var b bus
	var err error
	missing := func(name string, err error) error {
		if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("bus stream %s missing: %w (a broker creates the bus when it starts; a client with an admin credential creates it when it connects)",
				name, ErrBusMissing)
		}
		return fmt.Errorf("bus stream %s: %w", name, err)
	}
	if b.taskStr, err = js.Stream(ctx, TaskStream); err != nil {
		return nil, missing(TaskStream, err)
	}
	if b.outStr, err = js.Stream(ctx, OutputStream); err != nil {
		return nil, missing(OutputStream, err)
	}
	for _, kv := range []struct {
		bucket string
		to     *jetstream.KeyValue
	}{{TaskBucket, &b.tasks}, {LockBucket, &b.locks}, {WorkerBucket, &b.workers}} {
		if *kv.to, err = js.KeyValue(ctx, kv.bucket); err != nil {
			return nil, missing("KV_"+kv.bucket, err)
		}
	}
	return &b, nil
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
