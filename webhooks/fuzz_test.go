package webhooks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// FuzzAdmission sends arbitrary bytes, as the object of a create and as the
// new object of an update of a corpus object, to every admission handler.
// None may panic, and every refusal must say what is wrong: an empty
// message leaves the user with nothing to fix. The seeds are the malformed
// manifests of testdata/corpus and the samples.
//
//	go test ./webhooks -run '^$' -fuzz FuzzAdmission -fuzztime 10m
func FuzzAdmission(f *testing.F) {
	for _, pattern := range []string{"testdata/corpus/*.yaml", "../config/samples/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			for doc := range strings.SplitSeq(string(raw), "\n---") {
				if j, err := yaml.YAMLToJSON([]byte(doc)); err == nil {
					f.Add(j)
				}
			}
		}
	}
	f.Add([]byte(`{"spec":{}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"chaos.faultline.dev/run-now":"\u202e"}},"spec":null}`))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		f.Fatal(err)
	}
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		f.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).Build()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC))
	handlers := map[string]admission.Handler{
		"mutate Experiment":   &experimentMutator{},
		"mutate run":          &runMutator{operatorUsername: "system:serviceaccount:faultline-system:faultline", reader: reader},
		"validate Experiment": &experimentValidator{reader: reader, clock: clk},
		"validate run":        &runValidator{operatorUsername: "system:serviceaccount:faultline-system:faultline", reader: reader},
		"validate policy":     &policyValidator{},
	}
	old := []byte(`{"apiVersion":"chaos.faultline.dev/v1alpha1","kind":"Experiment","metadata":{"name":"a","namespace":"shop"},"spec":{"target":{"kind":"Pod"}}}`)
	f.Fuzz(func(t *testing.T, object []byte) {
		for name, h := range handlers {
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					Operation: op, Namespace: "shop", Name: "a",
					UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
				}}
				req.Object.Raw = object
				if op == admissionv1.Update {
					req.OldObject.Raw = old
				}
				resp := h.Handle(context.Background(), req)
				if !resp.Allowed && (resp.Result == nil || strings.TrimSpace(resp.Result.Message) == "") {
					t.Fatalf("%s %s refused %q with no message: %+v", name, op, object, resp.Result)
				}
			}
		}
	})
}
