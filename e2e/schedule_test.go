//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// scheduledRuns lists the runs of experiment name, oldest first.
func scheduledRuns(ctx context.Context, name string) ([]chaosv1alpha1.ExperimentRun, error) {
	runs := &chaosv1alpha1.ExperimentRunList{}
	if err := tb.Client.List(ctx, runs, client.InNamespace(harness.ShopNamespace),
		client.MatchingLabels{chaosv1alpha1.ExperimentLabel: name}); err != nil {
		return nil, err
	}
	sort.Slice(runs.Items, func(i, j int) bool {
		return runs.Items[i].CreationTimestamp.Before(&runs.Items[j].CreationTimestamp)
	})
	return runs.Items, nil
}

// TestScheduledExperimentRunsOnTimeAndKeepsItsHistory runs an "@every 20s"
// experiment whose runs last longer than 20s: runs start on time, Forbid
// skips a due time while a run is active, suspend stops new runs, and the
// history is pruned to runHistoryLimit.
func TestScheduledExperimentRunsOnTimeAndKeepsItsHistory(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	exp := tb.PodKillExperiment("e2e-scheduled")
	exp.Spec.Schedule = "@every 20s"
	exp.Spec.ConcurrencyPolicy = chaosv1alpha1.ForbidConcurrent
	exp.Spec.RunHistoryLimit = ptr.To[int32](2)
	// About 25s a run (3s baseline, ~6s recovery, 15 stable samples): longer
	// than the 20s period, so every other due time finds a run active.
	exp.Spec.SteadyState.Stabilization = 15
	tb.Create(t, exp)

	// Three runs: the first due time, then at least one skip under Forbid.
	var runs []chaosv1alpha1.ExperimentRun
	harness.WaitFor(t, 3*time.Minute, "three scheduled runs", func(ctx context.Context) (bool, error) {
		var err error
		runs, err = scheduledRuns(ctx, exp.Name)
		if err != nil {
			return false, err
		}
		done := 0
		for _, r := range runs {
			if r.Status.Phase == chaosv1alpha1.PhaseCompleted {
				done++
			}
		}
		got := &chaosv1alpha1.Experiment{}
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(exp), got); err != nil {
			return false, err
		}
		// History is pruned to 2 finished runs, so count what the status saw.
		if len(got.Status.Recent) >= 3 {
			return true, nil
		}
		return false, fmt.Errorf("%d runs listed, %d finished, %d in status.recent", len(runs), done, len(got.Status.Recent))
	})

	// Runs start on time: each run starts within 2s of its scheduled
	// instant, never before it (a run staged ahead waits for it).
	for _, r := range runs {
		at, err := time.Parse(time.RFC3339, r.Annotations[experiment.ScheduledAtAnnotation])
		if err != nil {
			t.Fatalf("run %s: scheduled-at annotation: %v", r.Name, err)
		}
		if r.Status.Timeline.StartedAt == nil {
			continue // still Pending when listed
		}
		late := r.Status.Timeline.StartedAt.Sub(at)
		t.Logf("run %s scheduled %s, created %s, started %s late", r.Name, at.Format(time.TimeOnly), r.CreationTimestamp.Sub(at), late)
		if late < 0 || late > 2*time.Second {
			t.Errorf("run %s started %s after its scheduled time", r.Name, late)
		}
	}

	got := &chaosv1alpha1.Experiment{}
	if err := tb.Client.Get(t.Context(), client.ObjectKeyFromObject(exp), got); err != nil {
		t.Fatal(err)
	}
	// Forbid: with 25s runs every 20s, some due time found a run active and
	// was skipped, with an event saying so.
	events := &eventsv1.EventList{}
	if err := tb.Client.List(t.Context(), events, client.InNamespace(harness.ShopNamespace)); err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for _, e := range events.Items {
		if e.Regarding.Name == exp.Name && e.Reason == chaosv1alpha1.ReasonSkipped {
			skipped++
			t.Logf("skipped: %s", e.Note)
		}
	}
	if skipped == 0 {
		t.Error("no Skipped event: Forbid never skipped a due time although every run outlasted the period")
	}
	if len(got.Status.Recent) == 0 || got.Status.LastScheduleTime == nil || got.Status.NextScheduleTime == nil {
		t.Fatalf("status lacks recent/lastScheduleTime/nextScheduleTime: %+v", got.Status)
	}
	t.Logf("recent: %d runs, last verdict %s, last recover %v", len(got.Status.Recent), got.Status.Recent[0].Verdict, got.Status.Recent[0].TimeToRecover)

	// History: at most runHistoryLimit finished runs are kept.
	harness.WaitFor(t, 30*time.Second, "history pruned to 2 finished runs", func(ctx context.Context) (bool, error) {
		runs, err := scheduledRuns(ctx, exp.Name)
		if err != nil {
			return false, err
		}
		finished := 0
		for _, r := range runs {
			if r.Status.Phase == chaosv1alpha1.PhaseCompleted {
				finished++
			}
		}
		if finished > 2 {
			return false, fmt.Errorf("%d finished runs kept", finished)
		}
		return true, nil
	})

	// Suspend: no new run starts.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Suspend = true
	if err := tb.Client.Patch(t.Context(), got, patch); err != nil {
		t.Fatal(err)
	}
	suspendedAt := metav1.Now()
	time.Sleep(45 * time.Second)
	after, err := scheduledRuns(t.Context(), exp.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range after {
		if r.CreationTimestamp.After(suspendedAt.Add(time.Second)) {
			t.Errorf("run %s was created at %s, after the experiment was suspended at %s", r.Name, r.CreationTimestamp, suspendedAt)
		}
	}
}
