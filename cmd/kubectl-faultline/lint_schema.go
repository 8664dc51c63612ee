package main

import (
	"context"
	"fmt"
	"io/fs"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/config/crd"
)

// crdSchema is one kind's schema, ready to validate objects as the API
// server does: OpenAPI schema, then the x-kubernetes-validations rules.
type crdSchema struct {
	structural *structuralschema.Structural
	openAPI    validation.SchemaValidator
	rules      *cel.Validator
}

// crdSchemas are the schemas of the CRDs built into the plugin, by kind.
// They are the CRDs of the plugin's own version: a cluster running another
// version of Faultline may differ.
var crdSchemas = sync.OnceValues(func() (map[string]*crdSchema, error) {
	files, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*crdSchema{}
	for _, f := range files {
		data, err := fs.ReadFile(crd.Bases, f)
		if err != nil {
			return nil, err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &def); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range def.Spec.Versions {
			if v.Name != chaosv1alpha1.GroupVersion.Version || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("%s: converting the schema: %w", f, err)
			}
			structural, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("%s: the schema is not structural: %w", f, err)
			}
			openAPI, _, err := validation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out[def.Spec.Names.Kind] = &crdSchema{
				structural: structural,
				openAPI:    openAPI,
				rules:      cel.NewValidator(structural, true, celconfig.PerCallLimit),
			}
		}
	}
	return out, nil
})

// schemaProblems validates raw (an object as JSON) against its kind's CRD
// schema and validation rules, after the schema's defaults, as the API
// server would on create. The messages are the API server's.
func schemaProblems(kind string, raw []byte) []string {
	schemas, err := crdSchemas()
	if err != nil {
		return []string{"the plugin's built-in CRDs cannot be read (" + err.Error() + "): reinstall the plugin"}
	}
	s, ok := schemas[kind]
	if !ok {
		return nil
	}
	// Whole numbers decode as int64, as in the API server: the rules
	// compare them as integers.
	var obj map[string]any
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	defaulting.Default(obj, s.structural)
	errs := validation.ValidateCustomResource(nil, obj, s.openAPI)
	if len(errs) == 0 {
		// Rules are evaluated only on values the schema accepts, as the
		// API server does.
		ruleErrs, _ := s.rules.Validate(context.Background(), nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, ruleErrs...)
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
