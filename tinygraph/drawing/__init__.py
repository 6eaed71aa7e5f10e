"""See backpropagation: draw a recorded graph with its formulas and gradients, or step through it.

    with tg.record_backward() as recording:
        loss.backward()
    tg.draw(loss, recording=recording).render("backprop", format="svg")
    tg.draw_steps(loss, recording=recording).save("backprop_steps.html")   # or shown inline in Jupyter
    tinygraph.drawing.draw_step(loss, 3, recording=recording)    # one frame, as a drawing
    print(tg.trace(loss))                                        # the graph as text, one op a line

`graph` models the recorded graph, `record` notes what backward did, `layout` wraps long
drawings into rows, `style` decides how it looks, `labels` what each node and edge says,
`render` makes the Graphviz drawing, `images` the heatmaps of feature maps inside it, `steps`
the step-through page's frames and `page` its HTML, `browser` lays drawings out in the browser
where `dot` is missing (Graphviz in WebAssembly, `vendor/`), and `trace` the text form. The
gradient flow over training is a training monitor, in tinygraph/monitor.py.
"""
from tinygraph.drawing.record import BackwardRecording, GradStat, record_backward
from tinygraph.drawing.render import draw
from tinygraph.drawing.steps import StepPage, draw_step, draw_steps
from tinygraph.drawing.trace import Trace, trace

__all__ = ["BackwardRecording", "GradStat", "StepPage", "Trace", "draw", "draw_step", "draw_steps",
           "record_backward", "trace"]
