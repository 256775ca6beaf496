from django import template

from lastmile.console.templatetags.console_tags import span_words

register = template.Library()


@register.filter
def waited(seconds: int) -> str:
    """How long a mention has waited, in the console's words ("2 days 3 h")."""
    return span_words(max(0, int(seconds)))
