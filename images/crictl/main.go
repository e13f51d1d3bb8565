// Command crictl is a small stand-in for cri-tools' crictl, for node images built where the cri-tools module
// cannot be fetched. It speaks CRI v1 to the node's runtime and prints the same JSON as crictl's "-o json"
// (protojson of the CRI responses), so callers cannot tell the two apart for the subcommands it has:
// ps, pods, inspect, inspectp, inspecti, images, stop, stopp, rm, rmp, info, version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

type labelFlags map[string]string

func (l labelFlags) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labelFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("label %q is not key=value", v)
	}
	l[k] = val
	return nil
}

type clients struct {
	runtime runtime.RuntimeServiceClient
	image   runtime.ImageServiceClient
}

func main() {
	global := flag.NewFlagSet("crictl", flag.ContinueOnError)
	endpoint := global.String("runtime-endpoint", "", "CRI endpoint (default from /etc/crictl.yaml or "+defaultEndpoint+")")
	global.StringVar(endpoint, "r", "", "short for --runtime-endpoint")
	global.String("image-endpoint", "", "ignored: images are served by the runtime endpoint")
	global.StringVar(new(string), "i", "", "ignored")
	timeout := global.Duration("timeout", 10*time.Second, "timeout of each call")
	global.DurationVar(timeout, "t", 10*time.Second, "short for --timeout")
	if err := global.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	args := global.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: crictl [--runtime-endpoint E] ps|pods|inspect|inspectp|inspecti|images|stop|stopp|rm|rmp|info|version [flags] [ID...]")
		os.Exit(2)
	}
	if *endpoint == "" {
		*endpoint = endpointFromConfig()
	}
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fatal(err)
	}
	defer conn.Close()
	c := clients{runtime.NewRuntimeServiceClient(conn), runtime.NewImageServiceClient(conn)}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, c, args[0], args[1:]); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "crictl:", err)
	os.Exit(1)
}

func endpointFromConfig() string {
	data, err := os.ReadFile("/etc/crictl.yaml")
	if err != nil {
		return defaultEndpoint
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "runtime-endpoint" {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return defaultEndpoint
}

func printJSON(m proto.Message) error {
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func run(ctx context.Context, c clients, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	all := fs.Bool("a", false, "show all containers, not only running ones")
	fs.BoolVar(all, "all", false, "show all containers")
	quiet := fs.Bool("q", false, "print ids only")
	output := fs.String("o", "table", "output format: table or json")
	fs.StringVar(output, "output", "table", "output format: table or json")
	name := fs.String("name", "", "filter by name (regular expression)")
	namespace := fs.String("namespace", "", "filter pods by namespace (regular expression)")
	pod := fs.String("pod", "", "filter containers by pod sandbox id")
	fs.StringVar(pod, "p", "", "short for --pod")
	state := fs.String("state", "", "filter by state")
	fs.StringVar(state, "s", "", "short for --state")
	force := fs.Bool("f", false, "force removal of running containers")
	fs.BoolVar(force, "force", false, "force removal")
	stopTimeout := fs.Int64("timeout", 0, "seconds to wait before killing on stop")
	labels := labelFlags{}
	fs.Var(labels, "label", "filter by label key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ids := fs.Args()

	switch cmd {
	case "ps":
		return listContainers(ctx, c, *all, *quiet, *output, *name, *pod, *state, labels)
	case "pods":
		return listPods(ctx, c, *quiet, *output, *name, *namespace, *state, labels)
	case "inspect":
		return eachID(ids, func(id string) error {
			r, err := c.runtime.ContainerStatus(ctx, &runtime.ContainerStatusRequest{ContainerId: id, Verbose: true})
			if err != nil {
				return err
			}
			return printJSON(r)
		})
	case "inspectp":
		return eachID(ids, func(id string) error {
			r, err := c.runtime.PodSandboxStatus(ctx, &runtime.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
			if err != nil {
				return err
			}
			return printJSON(r)
		})
	case "inspecti":
		return eachID(ids, func(ref string) error {
			r, err := c.image.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{Image: ref}, Verbose: true})
			if err != nil {
				return err
			}
			if r.Image == nil {
				return fmt.Errorf("no such image %q present", ref)
			}
			return printJSON(&runtime.ImageStatusResponse{Image: r.Image, Info: r.Info})
		})
	case "images":
		r, err := c.image.ListImages(ctx, &runtime.ListImagesRequest{})
		if err != nil {
			return err
		}
		if *output == "json" {
			return printJSON(r)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "IMAGE\tIMAGE ID\tSIZE")
		for _, img := range r.Images {
			for _, tag := range img.RepoTags {
				fmt.Fprintf(w, "%s\t%s\t%d\n", tag, shortID(img.Id), img.Size)
			}
		}
		return w.Flush()
	case "stop":
		return eachID(ids, func(id string) error {
			_, err := c.runtime.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: id, Timeout: *stopTimeout})
			if err == nil {
				fmt.Println(id)
			}
			return err
		})
	case "rm":
		return eachID(ids, func(id string) error {
			if *force {
				if _, err := c.runtime.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: id}); err != nil {
					return err
				}
			}
			_, err := c.runtime.RemoveContainer(ctx, &runtime.RemoveContainerRequest{ContainerId: id})
			if err == nil {
				fmt.Println(id)
			}
			return err
		})
	case "stopp":
		return eachID(ids, func(id string) error {
			_, err := c.runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: id})
			if err == nil {
				fmt.Println("Stopped sandbox", id)
			}
			return err
		})
	case "rmp":
		return eachID(ids, func(id string) error {
			_, err := c.runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: id})
			if err == nil {
				fmt.Println("Removed sandbox", id)
			}
			return err
		})
	case "info":
		r, err := c.runtime.Status(ctx, &runtime.StatusRequest{Verbose: true})
		if err != nil {
			return err
		}
		return printJSON(r)
	case "version":
		r, err := c.runtime.Version(ctx, &runtime.VersionRequest{})
		if err != nil {
			return err
		}
		fmt.Printf("Version:  0.1.0\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
			r.RuntimeName, r.RuntimeVersion, r.RuntimeApiVersion)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func eachID(ids []string, fn func(string) error) error {
	if len(ids) == 0 {
		return errors.New("an ID is required")
	}
	var errs []error
	for _, id := range ids {
		if err := fn(id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func matches(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	ok, err := regexp.MatchString(pattern, value)
	return err == nil && ok
}

func listContainers(ctx context.Context, c clients, all, quiet bool, output, name, pod, state string, labels labelFlags) error {
	filter := &runtime.ContainerFilter{PodSandboxId: pod, LabelSelector: labels}
	switch {
	case state != "":
		v, ok := runtime.ContainerState_value["CONTAINER_"+strings.ToUpper(state)]
		if !ok {
			return fmt.Errorf("unknown container state %q", state)
		}
		filter.State = &runtime.ContainerStateValue{State: runtime.ContainerState(v)}
	case !all:
		filter.State = &runtime.ContainerStateValue{State: runtime.ContainerState_CONTAINER_RUNNING}
	}
	r, err := c.runtime.ListContainers(ctx, &runtime.ListContainersRequest{Filter: filter})
	if err != nil {
		return err
	}
	var kept []*runtime.Container
	for _, ctr := range r.Containers {
		if matches(name, ctr.GetMetadata().GetName()) {
			kept = append(kept, ctr)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].CreatedAt > kept[j].CreatedAt })
	if quiet {
		for _, ctr := range kept {
			fmt.Println(ctr.Id)
		}
		return nil
	}
	if output == "json" {
		return printJSON(&runtime.ListContainersResponse{Containers: kept})
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "CONTAINER\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD")
	for _, ctr := range kept {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortID(ctr.Id), time.Unix(0, ctr.CreatedAt).UTC().Format(time.RFC3339),
			strings.TrimPrefix(ctr.State.String(), "CONTAINER_"), ctr.GetMetadata().GetName(), ctr.GetMetadata().GetAttempt(),
			shortID(ctr.PodSandboxId), ctr.Labels["io.kubernetes.pod.name"])
	}
	return w.Flush()
}

func listPods(ctx context.Context, c clients, quiet bool, output, name, namespace, state string, labels labelFlags) error {
	filter := &runtime.PodSandboxFilter{LabelSelector: labels}
	if state != "" {
		v, ok := runtime.PodSandboxState_value["SANDBOX_"+strings.ToUpper(state)]
		if !ok {
			return fmt.Errorf("unknown sandbox state %q", state)
		}
		filter.State = &runtime.PodSandboxStateValue{State: runtime.PodSandboxState(v)}
	}
	r, err := c.runtime.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return err
	}
	var kept []*runtime.PodSandbox
	for _, p := range r.Items {
		if matches(name, p.GetMetadata().GetName()) && matches(namespace, p.GetMetadata().GetNamespace()) {
			kept = append(kept, p)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].CreatedAt > kept[j].CreatedAt })
	if quiet {
		for _, p := range kept {
			fmt.Println(p.Id)
		}
		return nil
	}
	if output == "json" {
		return printJSON(&runtime.ListPodSandboxResponse{Items: kept})
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "POD ID\tCREATED\tSTATE\tNAME\tNAMESPACE\tATTEMPT")
	for _, p := range kept {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\n", shortID(p.Id), time.Unix(0, p.CreatedAt).UTC().Format(time.RFC3339),
			strings.TrimPrefix(p.State.String(), "SANDBOX_"), p.GetMetadata().GetName(), p.GetMetadata().GetNamespace(),
			p.GetMetadata().GetAttempt())
	}
	return w.Flush()
}
