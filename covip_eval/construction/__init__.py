"""The paper's three-stage construction pipeline, driven by model adapters: dialogues, questions
and query scenes from concept photos, checked and written as a benchmark folder. The model-free
parts (concept folders, the compositor, generator prompts, validation) are in
`benchmark.construction`."""
