"""An image-only processor: its video slot left empty (video
processors need torchvision). Written by covip-eval so that AutoProcessor
(trust_remote_code=True) loads this folder."""

from transformers import Qwen3VLProcessor


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                         video_processor=None, chat_template=chat_template, **kwargs)
