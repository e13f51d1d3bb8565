"""Kubeconfig text for tests that never reach a cluster."""

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}"}}
users:
- name: u
  user: {{token: t}}
contexts:
- name: {context}
  context: {{cluster: c, user: u}}
current-context: {context}
"""
