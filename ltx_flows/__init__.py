"""ltx-flows: storyboard YAML -> plan -> generate -> stitch -> manifest."""
