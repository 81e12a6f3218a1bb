"""The dashboard panels, one module each: today/mix/waiting (panels), the chart, the posts table
and the pop-up screens."""
