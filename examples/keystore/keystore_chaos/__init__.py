"""The keystore example: a StatefulSet whose pods append keys to a file on their PVC."""
