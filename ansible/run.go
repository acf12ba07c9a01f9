package ansible

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// HistoryEntry is one line of the execution history file. Arguments are
// masked (see [MaskArgs]).
type HistoryEntry struct {
	TaskID      string    `json:"task_id,omitempty"`
	Role        string    `json:"role"`
	Environment string    `json:"environment"`
	Sub         string    `json:"sub,omitempty"`
	Arguments   []string  `json:"arguments"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	ExitCode    int       `json:"exit_code"`
	Error       string    `json:"error,omitempty"`
}

var historyMu sync.Mutex

// appendHistory writes e as one line with a single write on an O_APPEND
// file, so that concurrent runs (and processes) never interleave lines.
func appendHistory(path string, e HistoryEntry) error {
	if path == "" {
		return nil
	}
	if e.Arguments == nil {
		e.Arguments = []string{}
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	historyMu.Lock()
	defer historyMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("execution history: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("execution history %s: %w", path, werr)
	}
	return nil
}

// Run builds the command of r, executes it with Execute and appends the run
// to the history file. Lock files and missing playbooks fail before anything
// starts.
func (c Config) Run(ctx context.Context, r Run, line func(string)) (Result, error) {
	cmd, err := c.Command(r)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	res, err := cmd.Execute(ctx, line)
	e := HistoryEntry{TaskID: r.TaskID, Role: r.Role, Environment: r.Environment, Sub: r.Sub, Arguments: MaskArgs(r.Args, cmd.secret),
		Start: res.Start, End: res.End, ExitCode: res.ExitCode}
	if err != nil {
		e.Error = err.Error()
	}
	if herr := appendHistory(c.withDefaults().HistoryFile, e); herr != nil && err == nil {
		err = herr
	}
	return res, err
}
