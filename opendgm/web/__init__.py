"""The read-only dashboard (`opendgm serve`) and campaign pictures (`opendgm plot`).

`create_app(campaigns, token)` builds the FastAPI app; `views` holds the JSON views it serves (also
drawn by `plots`); `static/` is the page, plain JS on a canvas, no CDN.
"""
