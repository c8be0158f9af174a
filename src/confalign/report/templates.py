"""The HTML page template (jinja2, autoescaped). Self-contained: CSS inline, no script, no font
or image from anywhere; figures arrive as ``data:`` URIs in ``images``."""

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
         max-width: 1200px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
  h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
  h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #e5e5e5; }
  h3 { font-size: 1.1rem; margin-top: 1.6rem; }
  p.note, caption { color: #555; font-size: .9rem; }
  .intro { background: #f6f8fa; border-left: 4px solid #8a9bb0; padding: .5rem 1rem; }
  .scroll { overflow-x: auto; margin: .6rem 0 1rem; }
  table { border-collapse: collapse; font-size: .86rem; }
  caption { text-align: left; font-weight: 600; color: #1d1d1f; padding: .3rem 0; }
  th, td { border: 1px solid #d8dde3; padding: .25rem .5rem; text-align: right;
           vertical-align: top; }
  th { background: #eef1f5; }
  td:first-child, th:first-child, td.txt { text-align: left; white-space: nowrap; }
  tr:nth-child(even) td { background: #fafbfc; }
  .ci { color: #6a737d; font-size: .75rem; white-space: nowrap; }
  .figures { display: flex; flex-wrap: wrap; gap: .8rem; }
  figure { margin: 0; border: 1px solid #e5e5e5; padding: .3rem; background: #fff; }
  figure img { display: block; max-width: 360px; height: auto; }
  .wide figure img { max-width: 760px; }
  figcaption { font-size: .78rem; color: #555; text-align: center; }
  details > summary { cursor: pointer; font-weight: 600; margin: .8rem 0; }
  td img { max-width: 220px; height: auto; }
</style>
</head>
<body>
<h1>{{ page.title }}</h1>
<div class="intro">
{% for p in page.intro %}
  <p>{{ p }}</p>
{% endfor %}
</div>
{% for s in page.sections %}
{% if s.collapsed %}<details><summary>{{ s.title }}</summary>{% else %}
<h{{ s.level }}>{{ s.title }}</h{{ s.level }}>
{% endif %}
{% if s.text %}<p>{{ s.text }}</p>{% endif %}
{% for t in s.tables %}
<div class="scroll">
<table>
{% if t.title and t.title != s.title %}
  <caption>{{ t.title }}</caption>
{% endif %}
{% if t.columns | select | list %}
  <thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
{% endif %}
  <tbody>
{% for row in t.rows %}
    <tr>{% for c in row %}<td class="{{ c | align }}">{{ c | cell }}</td>{% endfor %}</tr>
{% endfor %}
{% if t.images and t.rows %}
    <tr><td>Cv histogram</td>
{% for fid in t.images %}
      <td>{% if fid in images %}<img alt="{{ fid }}" src="{{ images[fid] }}">{% else %}—{% endif %}
      </td>
{% endfor %}
    </tr>
{% endif %}
  </tbody>
</table>
</div>
{% if t.note %}<p class="note">{{ t.note }}</p>{% endif %}
{% endfor %}
{% if s.figures %}
{% if s.caption %}<p class="note">{{ s.caption }}</p>{% endif %}
<div class="figures{% if s.wide %} wide{% endif %}">
{% for fid in s.figures %}
  <figure><img alt="{{ fid }}" src="{{ images[fid] }}">
    <figcaption>{{ fid.split('/', 2)[-1] }}</figcaption></figure>
{% endfor %}
</div>
{% endif %}
{% if s.collapsed %}</details>{% endif %}
{% endfor %}
</body>
</html>
"""
