package locking

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWaitRetriesUntilFree(t *testing.T) {
	t.Parallel()
	calls, waits := 0, 0
	v, err := Wait(context.Background(), func(context.Context) (int, error) {
		calls++
		if calls < 4 {
			return 0, fmt.Errorf("lock x held by y: %w", ErrLocked)
		}
		return 42, nil
	}, func(err error) {
		waits++
		require.ErrorIs(t, err, ErrLocked)
	})
	require.NoError(t, err)
	require.Equal(t, 42, v)
	require.Equal(t, 4, calls)
	require.Equal(t, 3, waits)
}

func TestWaitReturnsOtherErrorsAtOnce(t *testing.T) {
	t.Parallel()
	boom := errors.New("broker unreachable")
	calls := 0
	_, err := Wait(context.Background(), func(context.Context) (int, error) { calls++; return 0, boom }, nil)
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, calls)
}

func TestWaitEndsWithContextAndNamesTheHolder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Wait(ctx, func(context.Context) (int, error) {
		return 0, fmt.Errorf("lock x held by task 7: %w", ErrLocked)
	}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, "held by task 7")
}
