package main

import "testing"

func TestUnitInCgroup(t *testing.T) {
	cases := map[string]string{
		// cgroup v2, a host
		"0::/system.slice/kubelet.service\n": "kubelet",
		// cgroup v1 inside a kind node on a cgroup-v1 host (the host's cgroup namespace)
		"12:pids:/docker/abc/system.slice/kubelet.service\n1:name=systemd:/docker/abc/system.slice/kubelet.service\n": "kubelet",
		"0::/system.slice/k3s-agent.service\n":                                 "k3s-agent",
		"0::/system.slice/snap.microk8s.daemon-kubelite.service\n":             "snap.microk8s.daemon-kubelite",
		"0::/system.slice/rke2-agent.service/kubelet\n":                        "rke2-agent",
		"0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-x.scope\n": "",
		"0::/user.slice/user-0.slice/session-1.scope\n":                        "",
	}
	for cgroup, want := range cases {
		if got := unitInCgroup(cgroup); got != want {
			t.Errorf("unitInCgroup(%q) = %q, want %q", cgroup, got, want)
		}
	}
}

func TestEndpointFromFlagsAndConfig(t *testing.T) {
	args := []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--container-runtime-endpoint", "/run/k3s/containerd/containerd.sock"}
	if got := normalEndpoint(flagValue(args, "--container-runtime-endpoint")); got != "unix:///run/k3s/containerd/containerd.sock" {
		t.Errorf("flag: %q", got)
	}
	if got := flagValue(args, "--config"); got != "/var/lib/kubelet/config.yaml" {
		t.Errorf("--config=: %q", got)
	}
	doc := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: \"unix:///var/run/crio/crio.sock\"\nauthentication:\n  containerRuntimeEndpoint: nested\n"
	if got := yamlScalar(doc, "containerRuntimeEndpoint"); got != "unix:///var/run/crio/crio.sock" {
		t.Errorf("config: %q", got)
	}
	if got := yamlScalar("kind: KubeletConfiguration\n", "containerRuntimeEndpoint"); got != "" {
		t.Errorf("absent: %q", got)
	}
}

func TestRuntimeVersionsMatchAsTheKubeletParsesThem(t *testing.T) {
	if !matchesAny([]string{"cri-o://1.28.1", "containerd://1.6.20"}, "containerd://1.6.20~ds1") {
		t.Error("Debian's containerd 1.6.20~ds1 is nodeInfo's containerd://1.6.20")
	}
	if !matchesAny([]string{"containerd://1.7.27"}, "containerd://v1.7.27-k3s1") {
		t.Error("k3s's containerd v1.7.27-k3s1")
	}
	if matchesAny([]string{"containerd://1.7.2"}, "containerd://1.7.27") || matchesAny([]string{"containerd://1.6.20"}, "cri-o://1.6.20") {
		t.Error("a different version or runtime matched")
	}
}
