// Command istiod-render produces what istiod itself writes, offline, with istiod's own code:
//
//	istiod-render inject  --config F --values F --mesh F --namespace F < AdmissionReview.json
//	istiod-render waypoint --config F --values F --mesh F --namespace F --name NAME
//
// inject runs istiod's sidecar injection webhook (pkg/kube/inject.NewWebhook) on one
// AdmissionReview, with the pod's Namespace object known to it, as istiod has it from the
// API server (OpenShift's UID range annotations are read from there; run with
// PLATFORM=openshift as istiod does on OpenShift). It prints the pod with the webhook's
// patch applied, as the API server applies it.
//
// waypoint renders the Deployment istiod's gateway deployment controller creates for a
// waypoint Gateway (class istio-waypoint, listener mesh/15008/HBONE): the injector's
// "waypoint" template executed with the controller's TemplateInput, as
// DeploymentController.render and apply do (pilot/pkg/config/kube/gatewaycommon), without
// a cluster to apply to.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gateway "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"istio.io/api/label"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/gatewaycommon"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test/util/tmpl"
	"istio.io/istio/pkg/test/util/yml"
)

type options struct {
	config, values, mesh, namespace, name string
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: istiod-render inject|waypoint --config F --values F --mesh F --namespace F"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var o options
	fs.StringVar(&o.config, "config", "", "injector config (ConfigMap istio-sidecar-injector, key config)")
	fs.StringVar(&o.values, "values", "", "injector values (ConfigMap istio-sidecar-injector, key values)")
	fs.StringVar(&o.mesh, "mesh", "", "mesh config (ConfigMap istio, key mesh)")
	fs.StringVar(&o.namespace, "namespace", "", "the Namespace object, YAML")
	fs.StringVar(&o.name, "name", "waypoint", "waypoint Gateway name")
	_ = fs.Parse(os.Args[2:])
	// Istio logs to stdout by default; stdout carries the result here.
	logs := istiolog.DefaultOptions()
	logs.OutputPaths = []string{"stderr"}
	logs.ErrorOutputPaths = []string{"stderr"}
	if err := istiolog.Configure(logs); err != nil {
		fail(err)
	}
	var err error
	switch os.Args[1] {
	case "inject":
		err = injectReview(o, os.Stdin, os.Stdout)
	case "waypoint":
		err = renderWaypoint(o, os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "istiod-render:", err)
	os.Exit(1)
}

func readNamespace(path string) (*corev1.Namespace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{}
	return ns, yaml.Unmarshal(data, ns)
}

func environment(meshConfig *meshconfig.MeshConfig) *model.Environment {
	env := &model.Environment{Watcher: meshwatcher.NewTestWatcher(meshConfig), ConfigStore: model.NewFakeStore()}
	env.SetPushContext(&model.PushContext{ProxyConfigs: model.GetProxyConfigs(env.ConfigStore, meshConfig)})
	return env
}

func injectReview(o options, in io.Reader, out io.Writer) error {
	meshConfig, err := mesh.ReadMeshConfig(o.mesh)
	if err != nil {
		return err
	}
	ns, err := readNamespace(o.namespace)
	if err != nil {
		return err
	}
	watcher, err := inject.NewFileWatcher(o.config, o.values)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	clusters := multicluster.NewFakeController()
	mux := http.NewServeMux()
	if _, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher: watcher, Env: environment(meshConfig), Mux: mux, MultiCluster: clusters,
	}); err != nil {
		return err
	}
	client := kube.NewFakeClient(ns)
	clusters.Add(constants.DefaultClusterName, client, stop)
	client.RunAndWait(stop)
	review, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	request := httptest.NewRequest(http.MethodPost, "/inject", bytes.NewReader(review))
	request.Header.Set("Content-Type", "application/json")
	recorder := httptest.NewRecorder()
	mux.ServeHTTP(recorder, request)
	if recorder.Code != http.StatusOK {
		return fmt.Errorf("webhook answered %d: %s", recorder.Code, recorder.Body.String())
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil {
		return err
	}
	if answer.Response == nil || !answer.Response.Allowed || answer.Response.Patch == nil {
		return fmt.Errorf("webhook did not inject: %s", recorder.Body.String())
	}
	var asked admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &asked); err != nil {
		return err
	}
	// The pod as the API server serializes it, which is what the patch's paths address.
	var pod corev1.Pod
	if err := json.Unmarshal(asked.Request.Object.Raw, &pod); err != nil {
		return err
	}
	original, err := json.Marshal(&pod)
	if err != nil {
		return err
	}
	patch, err := jsonpatch.DecodePatch(answer.Response.Patch)
	if err != nil {
		return err
	}
	patched, err := patch.Apply(original)
	if err != nil {
		return err
	}
	_, err = out.Write(append(patched, '\n'))
	return err
}

// derivedInput is gatewaycommon's template input (deploymentcontroller.go, derivedInput).
type derivedInput struct {
	gatewaycommon.TemplateInput
	ProxyImage        string
	AgentgatewayImage string
	ProxyConfig       *meshconfig.ProxyConfig
	MeshConfig        *meshconfig.MeshConfig
	Values            map[string]any
}

func renderWaypoint(o options, out io.Writer) error {
	meshConfig, err := mesh.ReadMeshConfig(o.mesh)
	if err != nil {
		return err
	}
	ns, err := readNamespace(o.namespace)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(o.config)
	if err != nil {
		return err
	}
	config, err := inject.UnmarshalConfig(raw)
	if err != nil {
		return err
	}
	valuesJSON, err := os.ReadFile(o.values)
	if err != nil {
		return err
	}
	values, err := inject.NewValuesConfig(string(valuesJSON))
	if err != nil {
		return err
	}
	class, found := gatewaycommon.GetClassInfos()[gateway.GatewayController(constants.ManagedGatewayMeshController)]
	if !found {
		return fmt.Errorf("no waypoint class: istiod runs with PILOT_ENABLE_AMBIENT=true in an ambient install")
	}
	// The Gateway `istioctl waypoint generate` writes.
	gw := gateway.Gateway{
		TypeMeta: metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{
			Name: o.name, Namespace: ns.Name, UID: types.UID("00000000-0000-0000-0000-000000000001"),
			Labels: map[string]string{label.IoIstioWaypointFor.Name: "service"},
		},
		Spec: gateway.GatewaySpec{
			GatewayClassName: constants.WaypointGatewayClassName,
			Listeners:        []gateway.Listener{{Name: "mesh", Port: 15008, Protocol: "HBONE"}},
		},
	}
	name := gatewaycommon.GetDefaultName(gw.Name, &gw.Spec, class.DisableNameSuffix)
	uid, gid := inject.GetProxyIDs(ns)
	input := gatewaycommon.TemplateInput{
		Gateway:        &gw,
		GatewayClass:   string(gw.Spec.GatewayClassName),
		DeploymentName: name,
		ServiceAccount: name,
		Ports: []corev1.ServicePort{{Name: "mesh", Port: 15008,
			AppProtocol: ptr("istio.io/hbone")}},
		ClusterID:                 constants.DefaultClusterName,
		KubeVersion:               137,
		NativeSidecars:            features.EnableNativeSidecars != features.NativeSidecarModeDisabled,
		ServiceType:               class.DefaultServiceType,
		ProxyUID:                  uid,
		ProxyGID:                  gid,
		InfrastructureLabels:      gw.Labels,
		InfrastructureAnnotations: map[string]string{},
		GatewayNameLabel:          label.IoK8sNetworkingGatewayGatewayName.Name,
		ControllerLabel:           class.ControllerLabel,
	}
	env := environment(meshConfig)
	proxyConfig := env.GetProxyConfigOrDefault(ns.Name, map[string]string{input.GatewayNameLabel: gw.Name}, nil, meshConfig)
	template := config.Templates[class.Templates]
	if template == nil {
		return fmt.Errorf("injector config has no %q template", class.Templates)
	}
	rendered, err := tmpl.Execute(template, derivedInput{
		TemplateInput: input,
		ProxyImage:    inject.ProxyImage(values.Struct(), proxyConfig.GetImage(), gw.Annotations),
		ProxyConfig:   proxyConfig,
		MeshConfig:    meshConfig,
		Values:        values.Map(),
	})
	if err != nil {
		return err
	}
	for _, doc := range yml.SplitString(rendered) {
		object := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &object); err != nil {
			return err
		}
		if object["kind"] != "Deployment" {
			continue
		}
		// apply() labels what the controller manages.
		metadata := object["metadata"].(map[string]any)
		labels, _ := metadata["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		labels[label.GatewayManaged.Name] = "istio.io-mesh-controller"
		metadata["labels"] = labels
		encoded, err := json.Marshal(object)
		if err != nil {
			return err
		}
		_, err = out.Write(append(encoded, '\n'))
		return err
	}
	return fmt.Errorf("the %q template rendered no Deployment", class.Templates)
}

func ptr[T any](v T) *T { return &v }
