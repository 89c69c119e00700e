"""affectllm: fine-tune vision-language models to recognise and explain emotions."""

__version__ = "0.1.0"
